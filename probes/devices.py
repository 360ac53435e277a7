"""Probe: list the physical devices TensorFlow sees, with each GPU's details.

Runs inside the provisioned environment with only the standard library and TensorFlow.
Prints one JSON object on the last line of stdout.
"""

import argparse
import json


def main() -> None:
    argparse.ArgumentParser(description=__doc__.splitlines()[0]).parse_args()
    import tensorflow as tf

    devices = []
    for device in tf.config.list_physical_devices():
        entry = {"name": device.name, "device_type": device.device_type}
        if device.device_type == "GPU":
            # The details (e.g. {"device_name": "METAL"}) say which plugin registered the GPU.
            details = tf.config.experimental.get_device_details(device)
            entry["details"] = {key: str(value) for key, value in details.items()}
        devices.append(entry)
    gpus = [d["name"] for d in devices if d["device_type"] == "GPU"]
    print(json.dumps({"devices": devices, "gpus": gpus}))


if __name__ == "__main__":
    main()
