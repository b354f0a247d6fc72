using System;
using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
static class P {
  [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
  static Vector256<float> Run(long n, Vector256<float> x, Vector256<float> y) {
    Vector256<float> c0=x,c1=y,c2=x,c3=y,c4=x,c5=y,c6=x,c7=y,c8=x,c9=y,c10=x,c11=y;
    for (long i=0;i<n;i++){
      c0=Vector256.FusedMultiplyAdd(x,y,c0);c1=Vector256.FusedMultiplyAdd(x,y,c1);c2=Vector256.FusedMultiplyAdd(x,y,c2);
      c3=Vector256.FusedMultiplyAdd(x,y,c3);c4=Vector256.FusedMultiplyAdd(x,y,c4);c5=Vector256.FusedMultiplyAdd(x,y,c5);
      c6=Vector256.FusedMultiplyAdd(x,y,c6);c7=Vector256.FusedMultiplyAdd(x,y,c7);c8=Vector256.FusedMultiplyAdd(x,y,c8);
      c9=Vector256.FusedMultiplyAdd(x,y,c9);c10=Vector256.FusedMultiplyAdd(x,y,c10);c11=Vector256.FusedMultiplyAdd(x,y,c11);
    }
    return c0+c1+c2+c3+c4+c5+c6+c7+c8+c9+c10+c11;
  }
  static void Main(){
    var x=Vector256.Create(1.0000001f); var y=Vector256.Create(0.9999999f);
    Run(1000000,x,y);
    for(int r=0;r<5;r++){
      long n=100_000_000;
      var t0=Process.GetCurrentProcess().TotalProcessorTime; 
      var v=Run(n,x,y);
      var dt=(Process.GetCurrentProcess().TotalProcessorTime-t0).TotalSeconds;
      Console.WriteLine($"ns per 32 products (12 FMA x 8 lanes per iter): {dt*1e9/(n*12*8/32.0):F3}  cycles@2.6GHz per FMA pair {dt*2.6e9/(n*6):F2} {v[0]}");
    }
  }
}
