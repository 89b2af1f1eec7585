import { Module } from '@nestjs/common';
import { DispatchModule } from '../dispatch/dispatch.module.js';
import { EventsController } from './events.controller.js';

@Module({ imports: [DispatchModule], controllers: [EventsController] })
export class EventsModule {}
