#include <stdio.h>
#include <time.h>
static double now(){struct timespec t; clock_gettime(CLOCK_THREAD_CPUTIME_ID,&t); return t.tv_sec+t.tv_nsec*1e-9;}
int main(){
  long N=50000000;
  __asm__ volatile("vxorps %%zmm0,%%zmm0,%%zmm0\n vxorps %%zmm1,%%zmm1,%%zmm1\n":::"xmm0","xmm1");
  for(int rep=0;rep<3;rep++){
  double t0=now();
  for(long n=0;n<N;n++){
    __asm__ volatile(
      "vfmadd231ps %%zmm0,%%zmm1,%%zmm2\n vfmadd231ps %%zmm0,%%zmm1,%%zmm3\n vfmadd231ps %%zmm0,%%zmm1,%%zmm4\n vfmadd231ps %%zmm0,%%zmm1,%%zmm5\n"
      "vfmadd231ps %%zmm0,%%zmm1,%%zmm6\n vfmadd231ps %%zmm0,%%zmm1,%%zmm7\n vfmadd231ps %%zmm0,%%zmm1,%%zmm8\n vfmadd231ps %%zmm0,%%zmm1,%%zmm9\n"
      "vfmadd231ps %%zmm0,%%zmm1,%%zmm10\n vfmadd231ps %%zmm0,%%zmm1,%%zmm11\n vfmadd231ps %%zmm0,%%zmm1,%%zmm12\n vfmadd231ps %%zmm0,%%zmm1,%%zmm13\n"
      :::"xmm2","xmm3","xmm4","xmm5","xmm6","xmm7","xmm8","xmm9","xmm10","xmm11","xmm12","xmm13");
  }
  double t1=now();
  printf("zmm: %.3f ns per FMA\n",(t1-t0)*1e9/(N*12.0));
  t0=now();
  for(long n=0;n<N;n++){
    __asm__ volatile(
      "vfmadd231ps %%ymm0,%%ymm1,%%ymm2\n vfmadd231ps %%ymm0,%%ymm1,%%ymm3\n vfmadd231ps %%ymm0,%%ymm1,%%ymm4\n vfmadd231ps %%ymm0,%%ymm1,%%ymm5\n"
      "vfmadd231ps %%ymm0,%%ymm1,%%ymm6\n vfmadd231ps %%ymm0,%%ymm1,%%ymm7\n vfmadd231ps %%ymm0,%%ymm1,%%ymm8\n vfmadd231ps %%ymm0,%%ymm1,%%ymm9\n"
      "vfmadd231ps %%ymm0,%%ymm1,%%ymm10\n vfmadd231ps %%ymm0,%%ymm1,%%ymm11\n vfmadd231ps %%ymm0,%%ymm1,%%ymm12\n vfmadd231ps %%ymm0,%%ymm1,%%ymm13\n"
      :::"xmm2","xmm3","xmm4","xmm5","xmm6","xmm7","xmm8","xmm9","xmm10","xmm11","xmm12","xmm13");
  }
  t1=now();
  printf("ymm: %.3f ns per FMA\n",(t1-t0)*1e9/(N*12.0));
  }
}
