#include <immintrin.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
static double now(){struct timespec t; clock_gettime(CLOCK_THREAD_CPUTIME_ID,&t); return t.tv_sec+t.tv_nsec*1e-9;}
static int WM=1, AM=1;
__attribute__((noinline)) static void pass(const float* w, long ws, const float* a, long as, int K, int off, float* out){
  __m512 c[24]; _Pragma("GCC unroll 24") for(int i=0;i<24;i++) c[i]=_mm512_setzero_ps();
  const float *w0=w+off,*w1=w+ws+off,*w2=w+2*ws+off,*w3=w+3*ws+off;
  long wm=WM, am=AM;
  for(long i=0;i<K;i+=64){
    long iw=i*wm, ia=i*am;
    __m512 x0=_mm512_load_ps(w0+iw),x1=_mm512_load_ps(w1+iw),x2=_mm512_load_ps(w2+iw),x3=_mm512_load_ps(w3+iw);
    _Pragma("GCC unroll 6")
    for(int t=0;t<6;t++){ __m512 y=_mm512_load_ps(a+t*as+off+ia);
      c[t*4]=_mm512_fmadd_ps(x0,y,c[t*4]); c[t*4+1]=_mm512_fmadd_ps(x1,y,c[t*4+1]); c[t*4+2]=_mm512_fmadd_ps(x2,y,c[t*4+2]); c[t*4+3]=_mm512_fmadd_ps(x3,y,c[t*4+3]);}
  }
  _Pragma("GCC unroll 24") for(int i=0;i<24;i++) _mm512_store_ps(out+16*i,c[i]);
}
int main(int argc,char**argv){
  int K=atoi(argv[1]); long ws=atol(argv[2]), as=atol(argv[3]); int tiles=atoi(argv[4]); WM=atoi(argv[5]); AM=atoi(argv[6]);
  float* w=aligned_alloc(64,4*tiles*ws*4+8192); float* a=(float*)((char*)aligned_alloc(64,6*as*4+8192)+64); float* out=aligned_alloc(64,24*64*4*tiles);
  for(long i=0;i<4*tiles*ws;i++) w[i]=(i%7)*0.1f; for(long i=0;i<6*as;i++) a[i]=(i%5)*0.1f;
  double best=1e9;
  for(int rep=0;rep<30;rep++){ double t0=now();
    for(int g=0;g<200;g++) for(int j=0;j<4;j++) for(int tl=0;tl<tiles;tl++) pass(w+tl*4*ws,ws,a,as,K,j*16,out+tl*24*16);
    double t=now()-t0; if(t<best)best=t;}
  double prods=200.0*tiles*4*6*(double)K;
  printf("K=%d ws=%ld as=%ld tiles=%d wm=%d am=%d: %.3f ns per 32 products\n",K,ws,as,tiles,WM,AM,best*1e9/(prods/32));
}
