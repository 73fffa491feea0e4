from tests.integration.conftest import postgres_admin_url, postgres_database_url

__all__ = ["postgres_admin_url", "postgres_database_url"]
