import base64

import numpy as np
import pytest

from autan.embeddings.output_format import OutputFormat
from autan.errors import InvalidRequest


def _unit(*values: float) -> np.ndarray:
    v = np.array([values], dtype=np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def test_default_is_the_float_vector_unchanged() -> None:
    v = _unit(3, 4, 12)
    (row,) = OutputFormat().encode(v)
    assert row == pytest.approx([3 / 13, 4 / 13, 12 / 13], abs=1e-7)


def test_dimension_keeps_a_prefix_and_renormalizes() -> None:
    (row,) = OutputFormat(dimension=2).encode(_unit(3, 4, 12))
    assert row == pytest.approx([0.6, 0.8], abs=1e-6)


def test_dimension_of_a_zero_prefix_stays_zero() -> None:
    (row,) = OutputFormat(dimension=1).encode(_unit(0, 1))
    assert row == [0.0]


@pytest.mark.parametrize("dimension", [0, -3, 4])
def test_dimension_outside_one_to_native_is_refused(dimension: int) -> None:
    with pytest.raises(InvalidRequest) as e:
        OutputFormat(dimension=dimension).check(native_dimension=3)
    assert e.value.status == 400 and e.value.param == "output_dimension"
    assert str(dimension) in e.value.message


def test_dimension_up_to_native_is_accepted() -> None:
    OutputFormat(dimension=3).check(native_dimension=3)
    OutputFormat().check(native_dimension=3)


def test_int8_is_rounded_127x_and_uint8_shifts_by_128() -> None:
    v = np.array([[1.0, -1.0, 0.25, -0.25, 0.0, 0.003, -0.006]], dtype=np.float32)
    (signed,) = OutputFormat(dtype="int8").encode(v)
    assert signed == [127, -127, 32, -32, 0, 0, -1]
    assert all(isinstance(x, int) for x in signed)
    (unsigned,) = OutputFormat(dtype="uint8").encode(v)
    assert unsigned == [x + 128 for x in signed]


def test_ubinary_packs_sign_bits_first_component_highest() -> None:
    signs = [1, -1, -1, -1, -1, -1, -1, 1] + [1] * 8 + [-1, 1, 0.0]
    v = np.array([signs], dtype=np.float32)
    (packed,) = OutputFormat(dtype="ubinary").encode(v)
    # Third byte: bits 0,1,0 then five zero bits of padding (zero counts as "not > 0").
    assert packed == [0b1000_0001, 0b1111_1111, 0b0100_0000]
    (signed,) = OutputFormat(dtype="binary").encode(v)
    assert signed == [b - 128 for b in packed]


def test_binary_after_dimension_packs_the_prefix() -> None:
    v = _unit(*([1.0] * 8 + [-1.0] * 8))
    (packed,) = OutputFormat(dimension=8, dtype="ubinary").encode(v)
    assert packed == [255]


def test_base64_float_is_little_endian_float32() -> None:
    v = _unit(3, 4, 12, -1)
    (text,) = OutputFormat(encoding="base64").encode(v)
    assert isinstance(text, str)
    decoded = np.frombuffer(base64.b64decode(text), dtype="<f4")
    np.testing.assert_array_equal(decoded, v[0])


@pytest.mark.parametrize(
    ("dtype", "numpy_dtype"),
    [("int8", "i1"), ("uint8", "u1"), ("binary", "i1"), ("ubinary", "u1")],
)
def test_base64_integers_decode_to_the_json_integers(dtype: str, numpy_dtype: str) -> None:
    v = np.random.default_rng(0).standard_normal((3, 20)).astype(np.float32)
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    as_json = OutputFormat(dtype=dtype).encode(v)  # type: ignore[arg-type]
    as_b64 = OutputFormat(dtype=dtype, encoding="base64").encode(v)  # type: ignore[arg-type]
    for ints, text in zip(as_json, as_b64, strict=True):
        assert isinstance(text, str)
        assert np.frombuffer(base64.b64decode(text), dtype=numpy_dtype).tolist() == ints
