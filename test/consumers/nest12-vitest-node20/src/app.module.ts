import { Module } from '@nestjs/common';
import { LeaderElectionModule } from 'nestjs-lease-election';
import { ReportJob } from './report.job.js';

@Module({
  imports: [LeaderElectionModule.forRoot({ leaseName: 'reports' })],
  providers: [ReportJob],
})
export class AppModule {}
