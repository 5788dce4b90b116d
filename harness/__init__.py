"""What the tests and the benchmarks both run around the emulator: Azurite (queue and blob), free loopback ports,
throw-away PostgreSQL databases, generated DICOM files and workitems, the emulator's own process, and the fuzz
cases with their oracle."""
