"""Orders, the lowest layer: the order's fields (fields.py, once), the validated tables
(schema.py, records.py), files, the simulator and the Olist adapter. Imports nothing above it."""
