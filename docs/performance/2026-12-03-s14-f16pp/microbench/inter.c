#include <immintrin.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
static double now(){struct timespec t; clock_gettime(CLOCK_THREAD_CPUTIME_ID,&t); return t.tv_sec+t.tv_nsec*1e-9;}
// layout 0: row-major rows (stride ws), pass j reads off j*16 of each 64-step.
// layout 1: interleaved: pass (tile,j) reads contiguous: step s -> 4 lines (rows 0..3)
__attribute__((noinline)) static void pass(const float* w0,const float* w1,const float* w2,const float* w3, long wstep, const float* a, long as, int K, int off, float* out){
  __m512 c[24]; _Pragma("GCC unroll 24") for(int i=0;i<24;i++) c[i]=_mm512_setzero_ps();
  long n=K/64;
  for(long s=0;s<n;s++){
    long iw=s*wstep, ia=s*64;
    __m512 x0=_mm512_load_ps(w0+iw),x1=_mm512_load_ps(w1+iw),x2=_mm512_load_ps(w2+iw),x3=_mm512_load_ps(w3+iw);
    _Pragma("GCC unroll 6")
    for(int t=0;t<6;t++){ __m512 y=_mm512_load_ps(a+t*as+off+ia);
      c[t*4]=_mm512_fmadd_ps(x0,y,c[t*4]); c[t*4+1]=_mm512_fmadd_ps(x1,y,c[t*4+1]); c[t*4+2]=_mm512_fmadd_ps(x2,y,c[t*4+2]); c[t*4+3]=_mm512_fmadd_ps(x3,y,c[t*4+3]);}
  }
  _Pragma("GCC unroll 24") for(int i=0;i<24;i++) _mm512_store_ps(out+16*i,c[i]);
}
int main(int argc,char**argv){
  int K=atoi(argv[1]); long ws=atol(argv[2]); int L=atoi(argv[3]); long as=atol(argv[4]); int tiles=4, tokens=60;
  float* w=aligned_alloc(64,16*ws*4+8192); float* a=(float*)((char*)aligned_alloc(64,tokens*as*4+8192)+64); float* out=aligned_alloc(64,24*64*4*tiles);
  for(long i=0;i<16*ws;i++) w[i]=(i%7)*0.1f; for(long i=0;i<tokens*as;i++) a[i]=(i%5)*0.1f;
  double best=1e9;
  for(int rep=0;rep<20;rep++){ double t0=now();
    for(int g=0;g<20;g++) for(int tg=0;tg<tokens;tg+=6) for(int j=0;j<4;j++) for(int tl=0;tl<tiles;tl++) {
      const float* aa=a+tg*as; float* o=out+tl*24*16;
      if(L==0){ const float* b=w+tl*4*ws+j*16; pass(b,b+ws,b+2*ws,b+3*ws,64,aa,as,K,j*16,o);}
      else { const float* b=w+(tl*4+j)*(long)K; pass(b,b+16,b+32,b+48,64,aa,as,K,j*16,o);}
    }
    double t=now()-t0; if(t<best)best=t;}
  double prods=20.0*16*tokens*(double)K;
  printf("K=%d ws=%ld layout=%d as=%ld: %.3f ns per 32 products\n",K,ws,L,as,best*1e9/(prods/32));
}
