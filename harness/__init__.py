"""What the tests and the benchmarks both run around the emulator: Azurite (queue and blob), free loopback ports."""
