"""``python -m azure_dicom_emulator``: the command line."""

from .cli import app

app()
