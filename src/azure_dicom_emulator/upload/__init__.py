"""``azure-dicom-emulator upload``: stores folders of DICOM files in the emulator (or in Azure) over STOW-RS."""
