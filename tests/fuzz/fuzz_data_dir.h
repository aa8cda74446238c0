/*
 * fuzz_data_dir.h: the folder the fuzz targets read external data from,
 * so that tensors whose bytes live in another file (ONNX external data:
 * location, offset, length) are read for real rather than refused for want
 * of a folder. Shared by the targets of tests/fuzz/.
 */
#ifndef CV_FUZZ_DATA_DIR_H
#define CV_FUZZ_DATA_DIR_H

/* A temporary folder made on first use (under $TMPDIR, else /tmp) and
 * removed at exit, holding one file, "weights.bin": 4096 bytes, the bytes
 * 0..255 repeated. NULL when it cannot be made (external data is then
 * refused, as with no folder). */
const char *cv_fuzz_data_dir(void);

#endif
