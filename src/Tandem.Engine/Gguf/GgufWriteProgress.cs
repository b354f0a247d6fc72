namespace Tandem.Engine.Gguf;

/// <summary>
/// Where a <see cref="GgufWriter.Write"/> stands: reported while a tensor's data is being written and once
/// after each tensor is complete.
/// </summary>
/// <param name="TensorIndex">Index of the tensor being written (file order).</param>
/// <param name="TensorCount">Number of tensors in the file.</param>
/// <param name="TensorName">Name of the tensor being written.</param>
/// <param name="BytesWritten">Tensor data bytes written so far (all tensors).</param>
/// <param name="TotalBytes">Tensor data bytes the file will hold (all tensors, without padding).</param>
public readonly record struct GgufWriteProgress(int TensorIndex, int TensorCount, string TensorName, long BytesWritten, long TotalBytes);
