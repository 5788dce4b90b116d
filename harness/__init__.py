"""What the tests and the benchmarks both run around the emulator: Azurite's queue service, free loopback ports."""
