"""A storing or serving process can leave out the libraries pydicom imports for pixel work."""

from __future__ import annotations

import subprocess
import sys
import textwrap


def run_python(code: str) -> subprocess.CompletedProcess:
    """Runs ``code`` in a new interpreter (leaving modules out cannot be undone in this one)."""
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=60)


def test_left_out_modules_are_not_imported_with_pydicom_and_cannot_be_imported():
    result = run_python(
        """
        import sys
        from azure_dicom_emulator.runtime import pixel_library_exclusion

        pixel_library_exclusion.leave_out()
        pixel_library_exclusion.import_pydicom()
        from azure_dicom_emulator.features.retrieve import pixel_jobs  # the store path still loads
        from azure_dicom_emulator.features.store import examination, service

        assert not {"numpy", "PIL", "pylibjpeg", "libjpeg", "openjpeg", "rle", "requests"} & set(sys.modules)
        try:
            import numpy
        except ModuleNotFoundError as exc:
            assert exc.name == "numpy"
        else:
            raise AssertionError("numpy was imported")
        """
    )
    assert result.returncode == 0, result.stderr


def test_leaving_out_imports_nothing_and_pydicom_imported_later_still_comes_without_the_pixel_libraries():
    result = run_python(
        """
        import sys
        from azure_dicom_emulator.runtime import pixel_library_exclusion

        pixel_library_exclusion.leave_out()
        assert "pydicom" not in sys.modules
        import pydicom.dataset
        assert not {"numpy", "PIL", "pylibjpeg"} & set(sys.modules)
        """
    )
    assert result.returncode == 0, result.stderr


def test_requests_is_left_out_of_pydicom_only_so_the_azure_storage_clients_still_load():
    result = run_python(
        """
        import sys
        from azure_dicom_emulator.runtime import pixel_library_exclusion

        pixel_library_exclusion.leave_out()
        pixel_library_exclusion.import_pydicom()
        assert "pydicom" in sys.modules and "requests" not in sys.modules
        import pydicom.data
        assert "requests" not in sys.modules
        import azure.storage.blob.aio
        assert "requests" in sys.modules and "numpy" not in sys.modules
        """
    )
    assert result.returncode == 0, result.stderr


def test_leaving_out_after_pydicom_was_imported_is_refused():
    result = run_python(
        """
        import pydicom
        from azure_dicom_emulator.runtime import pixel_library_exclusion

        try:
            pixel_library_exclusion.leave_out()
        except RuntimeError as exc:
            assert "pydicom" in str(exc) and "numpy" in str(exc)
        else:
            raise AssertionError("leave_out() accepted an imported pydicom")
        """
    )
    assert result.returncode == 0, result.stderr
