"""The load engine: the Mach-O images of the macOS wheels and the dyld model that predicts whether
the plugin loads."""
