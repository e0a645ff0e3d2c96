import pytest

from zoo_distill.util.units import human_size


@pytest.mark.parametrize(
    "value,unit,expected",
    [
        (None, "B", ""),
        (0, "B", "0 B"),
        (512, "B", "512 B"),
        (999, "B", "999 B"),
        (1000, "B", "1.0 KB"),
        (1_534_000, "B", "1.5 MB"),
        (2_000_000_000, "B", "2.0 GB"),
        (5e15, "B", "5000.0 TB"),  # the largest prefix keeps growing instead of running out
        (999, "", "999"),
        (1010, "", "1.0K"),
        (60_000, "", "60.0K"),
        (11_200_000, "", "11.2M"),
        (7_000_000_000, "", "7.0B"),  # a count: billions, not giga
        (-2500, "", "-2.5K"),
    ],
)
def test_decimal_prefixes(value, unit, expected):
    assert human_size(value, unit) == expected
