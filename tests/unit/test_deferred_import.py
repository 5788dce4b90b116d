"""Request handlers imported after start-up: a stand-in waits for the preload, or imports its module itself."""

from __future__ import annotations

import subprocess
import sys
import textwrap

HANDLERS = "async def answer(value):\n    return value * 2\n"


def run_python(code: str, folder) -> subprocess.CompletedProcess:
    """Runs ``code`` in a new interpreter (a preload happens once per process) with ``folder`` on its path."""
    (folder / "late_handlers.py").write_text(HANDLERS)
    program = f"import sys\nsys.path.insert(0, {str(folder)!r})\n" + textwrap.dedent(code)
    return subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, timeout=60)


def test_a_stand_in_called_during_the_preload_waits_for_it_without_holding_up_the_event_loop(tmp_path):
    result = run_python(
        """
        import asyncio, threading
        from azure_dicom_emulator.runtime.deferred_import import deferred, preload

        stand_in = deferred("late_handlers:answer")
        release, finished = threading.Event(), threading.Event()
        preload(first=release.wait, then=finished.set)

        async def main():
            call = asyncio.ensure_future(stand_in(21))
            await asyncio.sleep(0.2)  # the loop runs on meanwhile
            assert not call.done() and "late_handlers" not in sys.modules
            release.set()
            assert await call == 42

        asyncio.run(main())
        assert finished.wait(5) and "late_handlers" in sys.modules
        """,
        tmp_path,
    )
    assert result.returncode == 0, result.stderr


def test_without_a_preload_a_stand_in_imports_its_module_at_its_first_call(tmp_path):
    result = run_python(
        """
        import asyncio
        from azure_dicom_emulator.runtime.deferred_import import deferred

        stand_in = deferred("late_handlers:answer")
        assert "late_handlers" not in sys.modules and stand_in.__name__ == "answer"
        assert asyncio.run(stand_in(4)) == 8
        """,
        tmp_path,
    )
    assert result.returncode == 0, result.stderr


def test_a_failed_preload_is_raised_again_by_the_stand_in_that_needs_the_module(tmp_path):
    result = run_python(
        """
        import asyncio, threading
        from azure_dicom_emulator.runtime.deferred_import import deferred, preload

        stand_in = deferred("late_handlers_missing:answer")
        finished = threading.Event()
        preload(first=lambda: None, then=finished.set)
        assert finished.wait(5)
        try:
            asyncio.run(stand_in(1))
        except ModuleNotFoundError as exc:
            assert exc.name == "late_handlers_missing"
        else:
            raise AssertionError("the stand-in answered without its module")
        """,
        tmp_path,
    )
    assert result.returncode == 0, result.stderr
