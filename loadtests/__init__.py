"""Locust load tests of the NDXP gateway for ops: quotas, timeouts, the business day, saturation.

Locustfiles: ``provinces.py`` (the provinces' flows), ``quota_exhaustion.py``, ``timeouts.py``;
shapes to add with ``-f a.py,b.py``: ``business_day.py``, ``step.py``. ``shapes.py`` holds
their arithmetic without importing Locust. The ops guide is ``loadtests/README.md``.
"""
