#include <immintrin.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
static double now(){struct timespec t; clock_gettime(CLOCK_THREAD_CPUTIME_ID,&t); return t.tv_sec+t.tv_nsec*1e-9;}
__attribute__((noinline)) static void pass(const float* w, long ws, const float* a, long as, int K, int off, float* out){
  __m512 c[24]; _Pragma("GCC unroll 24") for(int i=0;i<24;i++) c[i]=_mm512_setzero_ps();
  const float *w0=w+off,*w1=w+ws+off,*w2=w+2*ws+off,*w3=w+3*ws+off;
  for(long i=0;i<K;i+=64){
    __m512 x0=_mm512_load_ps(w0+i),x1=_mm512_load_ps(w1+i),x2=_mm512_load_ps(w2+i),x3=_mm512_load_ps(w3+i);
    _Pragma("GCC unroll 6")
    for(int t=0;t<6;t++){ __m512 y=_mm512_load_ps(a+t*as+off+i);
      c[t*4]=_mm512_fmadd_ps(x0,y,c[t*4]); c[t*4+1]=_mm512_fmadd_ps(x1,y,c[t*4+1]); c[t*4+2]=_mm512_fmadd_ps(x2,y,c[t*4+2]); c[t*4+3]=_mm512_fmadd_ps(x3,y,c[t*4+3]);}
  }
  _Pragma("GCC unroll 24") for(int i=0;i<24;i++) _mm512_store_ps(out+16*i,c[i]);
}
int main(int argc,char**argv){
  int K=atoi(argv[1]); long ws=atol(argv[2]); int G=atoi(argv[3]); int tokens=atoi(argv[4]); long as=ws; int aoff=argc>5?atoi(argv[5]):64; long wsx=argc>6?atol(argv[6]):0; int tiles=4;
  float* w=aligned_alloc(64,16*ws*4+8192); float* a=(float*)((char*)aligned_alloc(4096,tokens*as*4+8192)+aoff); w=(float*)aligned_alloc(4096,16*ws*4+8192); float* out=aligned_alloc(64,24*64*4*tiles*G);
  for(long i=0;i<16*ws;i++) w[i]=(i%7)*0.1f; for(long i=0;i<tokens*as;i++) a[i]=(i%5)*0.1f;
  double best=1e9;
  for(int rep=0;rep<15;rep++){ double t0=now();
    for(int it=0;it<4;it++) for(int tg=0;tg<tokens;tg+=6*G) for(int j=0;j<4;j++) for(int tl=0;tl<tiles;tl++) for(int g=0;g<G;g++)
      pass(w+tl*4*ws,ws,a+(tg+6*g)*as,as,K,j*16,out+(tl*G+g)*24*16);
    double t=now()-t0; if(t<best)best=t;}
  double prods=4.0*16*tokens*(double)K;
  printf("aoff=%d K=%d ws=%ld G=%d tokens=%d: %.3f ns per 32 products\n",aoff,K,ws,G,tokens,best*1e9/(prods/32));
}
