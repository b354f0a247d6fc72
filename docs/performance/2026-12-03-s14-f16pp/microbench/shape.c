#include <immintrin.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
static double now(){struct timespec t; clock_gettime(CLOCK_THREAD_CPUTIME_ID,&t); return t.tv_sec+t.tv_nsec*1e-9;}
#define DEF(R,T) \
__attribute__((noinline)) static void pass##R##x##T(const float* w, long ws, const float* a, long as, int K, int off, float* out){ \
  __m512 c[R*T]; _Pragma("GCC unroll 32") for(int i=0;i<R*T;i++) c[i]=_mm512_setzero_ps(); \
  for(long i=0;i<K;i+=64){ __m512 x[R]; \
    _Pragma("GCC unroll 8") for(int r=0;r<R;r++) x[r]=_mm512_load_ps(w+r*ws+off+i); \
    _Pragma("GCC unroll 12") for(int t=0;t<T;t++){ __m512 y=_mm512_load_ps(a+t*as+off+i); \
      _Pragma("GCC unroll 8") for(int r=0;r<R;r++) c[t*R+r]=_mm512_fmadd_ps(x[r],y,c[t*R+r]);} } \
  _Pragma("GCC unroll 32") for(int i=0;i<R*T;i++) _mm512_store_ps(out+16*i,c[i]); }
DEF(4,6) DEF(3,8) DEF(2,12) DEF(6,4) DEF(8,3)
int main(int argc,char**argv){
  int K=atoi(argv[1]); long ws=atol(argv[2]); int R=atoi(argv[3]), T=atoi(argv[4]); int rows=R==3?15:16; if(R==6) rows=18;
  int tokens=T*10; long as=ws;
  float* w=aligned_alloc(64,rows*ws*4+8192); float* a=(float*)((char*)aligned_alloc(64,tokens*as*4+8192)+64); float* out=aligned_alloc(64,64*64*4*rows);
  for(long i=0;i<rows*ws;i++) w[i]=(i%7)*0.1f; for(long i=0;i<tokens*as;i++) a[i]=(i%5)*0.1f;
  double best=1e9;
  for(int rep=0;rep<20;rep++){ double t0=now();
    for(int g=0;g<20;g++) for(int tg=0;tg<tokens;tg+=T) for(int j=0;j<4;j++) for(int r0=0;r0<rows;r0+=R) {
      const float* ww=w+r0*ws; const float* aa=a+tg*as; float* o=out+r0*T*16;
      if(R==4) pass4x6(ww,ws,aa,as,K,j*16,o); else if(R==3) pass3x8(ww,ws,aa,as,K,j*16,o); else if(R==2) pass2x12(ww,ws,aa,as,K,j*16,o); else if (R==6) pass6x4(ww,ws,aa,as,K,j*16,o); else pass8x3(ww,ws,aa,as,K,j*16,o);}
    double t=now()-t0; if(t<best)best=t;}
  double prods=20.0*rows*tokens*(double)K;
  printf("K=%d ws=%ld %dx%d rows=%d: %.3f ns per 32 products\n",K,ws,R,T,rows,best*1e9/(prods/32));
}
