#include <stdio.h>
#include <stdlib.h>
#include <time.h>
static double now(){struct timespec t; clock_gettime(CLOCK_THREAD_CPUTIME_ID,&t); return t.tv_sec+t.tv_nsec*1e-9;}
#define F(a,b,c) "vfmadd231ps %%zmm" #a ",%%zmm" #b ",%%zmm" #c "\n"
int main(){
  float* buf=aligned_alloc(64,4096); for(int i=0;i<1024;i++) buf[i]=0.001f*i;
  long N=20000000;
  for(int rep=0;rep<2;rep++){
  double t0=now();
  for(long n=0;n<N;n++){
    __asm__ volatile(
      "vmovups (%0),%%zmm24\n vmovups 64(%0),%%zmm25\n vmovups 128(%0),%%zmm26\n vmovups 192(%0),%%zmm27\n"
      "vmovups 256(%0),%%zmm28\n" F(28,24,0) F(28,25,1) F(28,26,2) F(28,27,3)
      "vmovups 320(%0),%%zmm28\n" F(28,24,4) F(28,25,5) F(28,26,6) F(28,27,7)
      "vmovups 384(%0),%%zmm28\n" F(28,24,8) F(28,25,9) F(28,26,10) F(28,27,11)
      "vmovups 448(%0),%%zmm28\n" F(28,24,12) F(28,25,13) F(28,26,14) F(28,27,15)
      "vmovups 512(%0),%%zmm28\n" F(28,24,16) F(28,25,17) F(28,26,18) F(28,27,19)
      "vmovups 576(%0),%%zmm28\n" F(28,24,20) F(28,25,21) F(28,26,22) F(28,27,23)
      ::"r"(buf):"xmm0","xmm1","xmm2","xmm3","xmm4","xmm5","xmm6","xmm7","xmm8","xmm9","xmm10","xmm11","xmm12","xmm13","xmm14","xmm15","xmm16","xmm17","xmm18","xmm19","xmm20","xmm21","xmm22","xmm23","xmm24","xmm25","xmm26","xmm27","xmm28");
  }
  double t1=now();
  printf("4x6 10 loads: %.3f ns per 32 products (%.2f cycles @3.5 per iter)\n",(t1-t0)*1e9/(N*12.0),(t1-t0)*3.5e9/N);
  t0=now();
  for(long n=0;n<N;n++){
    __asm__ volatile(
      "vmovups (%0),%%zmm24\n vmovups 64(%0),%%zmm25\n vmovups 128(%0),%%zmm26\n vmovups 192(%0),%%zmm27\n"
      F(24,25,0) F(24,26,1) F(24,27,2) F(25,26,3) F(25,27,4) F(26,27,5) F(24,25,6) F(24,26,7) F(24,27,8) F(25,26,9) F(25,27,10) F(26,27,11)
      F(24,25,12) F(24,26,13) F(24,27,14) F(25,26,15) F(25,27,16) F(26,27,17) F(24,25,18) F(24,26,19) F(24,27,20) F(25,26,21) F(25,27,22) F(26,27,23)
      ::"r"(buf):"xmm0","xmm1","xmm2","xmm3","xmm4","xmm5","xmm6","xmm7","xmm8","xmm9","xmm10","xmm11","xmm12","xmm13","xmm14","xmm15","xmm16","xmm17","xmm18","xmm19","xmm20","xmm21","xmm22","xmm23","xmm24","xmm25","xmm26","xmm27","xmm28");
  }
  t1=now();
  printf("24 FMA 4 loads: %.3f ns per 32 products (%.2f cycles @3.5 per iter)\n",(t1-t0)*1e9/(N*12.0),(t1-t0)*3.5e9/N);
  }
}
