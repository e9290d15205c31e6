"""Storage: Parquet layout, snapshots, the atomic publish, the lock and the DuckDB catalog."""

from warehouse.catalog import connect
from warehouse.layout import Warehouse

__all__ = ["Warehouse", "connect"]
