import type { DestinationType } from './destination.js';
import { sendgridDestination } from './sendgrid/sendgrid.js';

/** Every destination segsync can export to; a new one is one import and one line here. */
export const destinations: Readonly<Record<string, DestinationType<never>>> = {
  sendgrid: sendgridDestination as DestinationType<never>,
};
