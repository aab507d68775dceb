"""DAVIS J&F evaluation, tables and charts."""
