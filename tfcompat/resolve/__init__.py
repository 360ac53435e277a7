"""What pip installs for a pair on macOS arm64, resolved with uv, and the commands that install it today."""
