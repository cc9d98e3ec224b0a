"""Checks of the arguments users pass, with one message each: what was wrong and the value received."""


def check_positive_ints(**values):
    """Raises a clear `ValueError` unless every value is a positive int (`True` is not one).

    Example:

    >>> check_positive_ints(batch_size=32, stride=128)
    >>> check_positive_ints(stride=0)
    Traceback (most recent call last):
    ...
    ValueError: stride must be a positive int. Received: stride=0
    """
    for name, value in values.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive int. Received: {name}={value!r}")
