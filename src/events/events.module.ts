import { Module } from '@nestjs/common';
import { AssignmentModule } from '../assignment/assignment.module.js';
import { EventsController } from './events.controller.js';

@Module({ imports: [AssignmentModule], controllers: [EventsController] })
export class EventsModule {}
