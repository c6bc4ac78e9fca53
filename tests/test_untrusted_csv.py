"""``data.csv`` reads a file the user names but treats its contents as untrusted: a field over
the csv module's size limit, a malformed row with very many fields, or an ``int32`` column
value outside int32 is a ValueError naming the file and line, with a bounded message."""

from __future__ import annotations

import pytest

from layers import data


def _read(tmp_path, text, **kw):
    path = tmp_path / "c.csv"
    path.write_text(text)
    return data.csv(str(path), **kw).to_array()


def test_huge_field_names_file_and_line(tmp_path):
    with pytest.raises(ValueError, match=r"data\.csv: .*c\.csv line 2: .*field limit"):
        _read(tmp_path, "a,b\n1," + "x" * 200_000 + "\n")


def test_malformed_row_message_is_bounded(tmp_path):
    with pytest.raises(ValueError, match=r"line 2 has 50003 fields, expected 2") as e:
        _read(tmp_path, "a,b\n1,2,3" + ",9" * 50_000 + "\n")
    assert len(str(e.value)) < 1000


@pytest.mark.parametrize("text", ["1e400", "1e30", "-3e9", "inf"])
def test_int32_column_out_of_range(tmp_path, text):
    with pytest.raises(ValueError, match=rf"line 2: column 'a' value {text!r} .*int32"):
        _read(tmp_path, f"a,b\n{text},2\n", column_configs={"a": {"dtype": "int32"}})


def test_int32_column_in_range_still_reads(tmp_path):
    rows = _read(tmp_path, "a,b\n-2147483648,2\n2.7,3\n", column_configs={"a": {"dtype": "int32"}})
    assert [r["a"] for r in rows] == [-2147483648, 2]
