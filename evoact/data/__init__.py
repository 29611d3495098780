"""Data shipped with evoact: the activation benchmark table (``evoact.benchtable``)."""
