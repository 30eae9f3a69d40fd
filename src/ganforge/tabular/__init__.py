"""Synthetic tables: a conditional GAN for mixed column types (`TableGAN`), its column transform, and file reading."""

from ganforge.tabular.gan import TableGAN, TableGANConfig
from ganforge.tabular.schema import TABLE_SUFFIXES, ColumnSpec, infer_columns, read_table
from ganforge.tabular.transform import TableTransformer

__all__ = ["TABLE_SUFFIXES", "ColumnSpec", "TableGAN", "TableGANConfig", "TableTransformer", "infer_columns",
           "read_table"]
