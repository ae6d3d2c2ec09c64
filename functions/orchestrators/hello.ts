import * as df from 'durable-functions';
import { helloFanOut } from '../../shared/orchestrations/hello.js';

df.app.orchestration('helloFanOut', helloFanOut);
