"""pymilvus imported with pandas deferred still sees DataFrames and calls pandas' functions."""

from __future__ import annotations

import subprocess
import sys

PROBE = """
import sys
from hybrid_search.store import light_pymilvus
light_pymilvus.enabled = True
pymilvus = light_pymilvus.import_pymilvus()
from pymilvus.orm import schema, types
print("pandas before use:", "pandas" in sys.modules)
print("a list is insert data:", schema.is_valid_insert_data([{"a": 1}]))
# pandas' own is_scalar and infer_dtype, imported now
print("a float infers DOUBLE:", types.infer_dtype_bydata(1.5) == pymilvus.DataType.DOUBLE)
print("pandas after use:", "pandas" in sys.modules)
import pandas as pd
print("a DataFrame is insert data:", schema.is_valid_insert_data(pd.DataFrame({"a": [1]})))
print("pandas is real:", type(sys.modules["pandas"].DataFrame).__name__)
"""


def test_pandas_loads_when_used_and_dataframes_are_still_recognised() -> None:
    out = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, check=True
    ).stdout
    assert "pandas before use: False" in out
    assert "a list is insert data: True" in out
    assert "a float infers DOUBLE: True" in out and "pandas after use: True" in out
    assert "a DataFrame is insert data: True" in out
    assert "pandas is real: type" in out
