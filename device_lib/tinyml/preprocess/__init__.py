# tinyml.preprocess: sensor preprocessing blocks that run the same under MicroPython (on the board)
# and CPython (on the host, `tinyml pipeline run`). One module per family, imported on demand so a
# board only pays for what it uses:
#   windowing  ring buffer framing with hop, window functions, DC removal, pre-emphasis
#   fft        integer (Q15, KissFFT-exact) and float real FFTs; native/viper/python backends
#   spectral   power spectrum, mel filterbank, log compression, normalization, quantization
#   frontend   TFLM's micro front end (micro_speech features), integer and bit-exact
#   filters    IIR biquads (RBJ designs), cascades
#   motion     accelerometer window features: mean, std, RMS, zero crossings, peak-to-peak
#   constfile  the small binary constant files the blocks load (e.g. frontend.bin)
