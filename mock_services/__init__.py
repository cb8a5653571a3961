"""The mock national databases (*cơ sở dữ liệu quốc gia*): one small FastAPI app each, serving
exactly its contract from deterministic synthetic data shared through :mod:`people`."""

from contracts.provinces import PROVINCES, Province, find_province
from mock_services.apps import MOCK_FACTORIES, create_mock_app
from mock_services.people import Person, UnknownCitizen, is_citizen, person, random_citizen_id

__all__ = [
    "MOCK_FACTORIES",
    "PROVINCES",
    "Person",
    "Province",
    "UnknownCitizen",
    "create_mock_app",
    "find_province",
    "is_citizen",
    "person",
    "random_citizen_id",
]
