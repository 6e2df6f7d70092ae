"""The API reference is served without a key (docs/api.md says why); the API is not."""

from tests.api.conftest import Platform


def test_the_reference_is_open_and_the_api_is_not(platform: Platform) -> None:
    assert platform.client.get("/openapi.json").status_code == 200
    # Swagger UI and ReDoc load their scripts from a CDN: turned off.
    assert platform.client.get("/docs").status_code == 404
    assert platform.client.get("/redoc").status_code == 404
    spec = platform.client.get("/openapi.json").json()
    assert platform.admin_key not in str(spec)
    assert platform.client.get("/v1/models").status_code == 401
