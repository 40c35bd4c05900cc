"""Element types of the Torch7 tensor and storage classes, CUDA types included."""

import numpy as np

# Torch7 element name -> numpy dtype. The files are little-endian (x86 and ARM builds of
# Torch7 write native byte order), so the dtypes are explicitly little-endian.
_ELEMENT_DTYPES = {
    "Byte": np.dtype("<u1"),
    "Char": np.dtype("<i1"),
    "Short": np.dtype("<i2"),
    "Int": np.dtype("<i4"),
    "Long": np.dtype("<i8"),
    "Float": np.dtype("<f4"),
    "Double": np.dtype("<f8"),
    "Half": np.dtype("<f2"),
}


def _class_table(kind: str) -> dict[str, np.dtype]:
    table = {}
    for element, dtype in _ELEMENT_DTYPES.items():
        table[f"torch.{element}{kind}"] = dtype
        # cutorch names its float type torch.CudaTensor, not torch.CudaFloatTensor.
        cuda_element = "" if element == "Float" else element
        table[f"torch.Cuda{cuda_element}{kind}"] = dtype
    return table


TENSOR_DTYPES = _class_table("Tensor")
STORAGE_DTYPES = _class_table("Storage")

# The storage class each tensor class must point at, e.g. torch.CudaTensor -> torch.CudaStorage.
STORAGE_OF_TENSOR = {name: name[: -len("Tensor")] + "Storage" for name in TENSOR_DTYPES}

LONG_DTYPES = {8: np.dtype("<i8"), 4: np.dtype("<i4")}
