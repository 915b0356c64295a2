import { Module } from '@nestjs/common';
import { LeaderElectionModule } from 'nestjs-lease-election';
import { ReportJob } from './report.job';

@Module({
  imports: [LeaderElectionModule.forRoot({ leaseName: 'reports' })],
  providers: [ReportJob],
})
export class AppModule {}
