# The app the OTA tests run at boot: the running model (a signed update's, else the deployed one) on
# an all-zero input; prints its path and the output bytes in hex, for the test to compare with TFLM.
import binascii

import tinyml
from tinyml import ota

MODEL = "hello_world_int8.tml"


def main():
    path = ota.model_path(MODEL)
    m = tinyml.load(path)
    buf = m.input_buffer(0)
    for i in range(len(buf)):
        buf[i] = 0
    m.invoke()
    print("ota-app %s %s" % (path, binascii.hexlify(bytes(m.output_buffer(0))).decode()))
