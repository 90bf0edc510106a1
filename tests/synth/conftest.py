import pytest

from diffuhand.errors import DiffuhandError


@pytest.fixture(scope="session")
def renderer():
    from diffuhand.synth.render import Renderer

    try:
        r = Renderer(96)
    except DiffuhandError as exc:
        pytest.skip(f"offscreen renderer unavailable: {exc}")
    yield r
    r.close()
