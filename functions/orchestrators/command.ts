import * as df from 'durable-functions';
import { runCommand } from '../../shared/orchestrations/command.js';

df.app.orchestration('runCommand', runCommand);
