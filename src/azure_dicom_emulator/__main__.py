"""``python -m azure_dicom_emulator``: the command line."""

from .entry import main

main()
