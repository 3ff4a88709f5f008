from tests.support.kernels import roman_data

__all__ = ["roman_data"]
