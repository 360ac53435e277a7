"""The predict wing: a pair (abi sessions) or every pair (the map) from the macOS wheels, on any OS."""
