using Tandem.Engine.Quantization;

namespace Tandem.Engine.Kernels;

/// <summary>A tiled kernel loop (<see cref="IMatMulBody"/>) that reads its activations from a panel of type <typeparamref name="TPanel"/>.</summary>
internal interface IPanelMatMulBody<TPanel> : IMatMulBody where TPanel : struct, IActivationPanel
{
    /// <summary>The activations that the next runs of this body read.</summary>
    void SetPanel(in TPanel panel);
}
