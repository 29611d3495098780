"""Exporters: one module per target format."""

from evoact.export.torch_module import export_torch_module, load_activation, read_torch_module, torch_module_source

__all__ = ["export_torch_module", "load_activation", "read_torch_module", "torch_module_source"]
