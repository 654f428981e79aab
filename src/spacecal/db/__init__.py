"""Storage: the engine, the embedded PostgreSQL, the models and the migrations."""
