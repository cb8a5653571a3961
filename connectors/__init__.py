"""The provincial side: the ``NdxpClient`` SDK, the mock one-stop systems and the trainer's
demo. Not built yet (the provincial-side issue); the package exists so the layout is whole."""

__all__: list[str] = []
