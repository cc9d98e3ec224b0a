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


def check_num_classes(num_classes):
    """Raises a clear `ValueError` unless `num_classes` is an int >= 2 (a classifier's output size)."""
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 2:
        raise ValueError(f"num_classes must be an integer >= 2. Received: num_classes={num_classes!r}")


def check_rates(**values):
    """Raises a clear `ValueError` unless every value is a float in [0, 1) (dropout rates).

    Example:

    >>> check_rates(dropout=0.1)
    >>> check_rates(dropout=1.0)
    Traceback (most recent call last):
    ...
    ValueError: dropout must be in [0, 1). Received: dropout=1.0
    """
    for name, value in values.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value < 1.0:
            raise ValueError(f"{name} must be in [0, 1). Received: {name}={value!r}")
