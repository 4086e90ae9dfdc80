/*M!999999\- enable the sandbox mode */ 
-- MariaDB dump 10.19  Distrib 10.11.19-MariaDB, for debian-linux-gnu (x86_64)
--
-- Host: localhost    Database: umami
-- ------------------------------------------------------
-- Server version	10.11.19-MariaDB-0+deb12u1

/*!40101 SET @OLD_CHARACTER_SET_CLIENT=@@CHARACTER_SET_CLIENT */;
/*!40101 SET @OLD_CHARACTER_SET_RESULTS=@@CHARACTER_SET_RESULTS */;
/*!40101 SET @OLD_COLLATION_CONNECTION=@@COLLATION_CONNECTION */;
/*!40101 SET NAMES utf8mb4 */;
/*!40103 SET @OLD_TIME_ZONE=@@TIME_ZONE */;
/*!40103 SET TIME_ZONE='+00:00' */;
/*!40014 SET @OLD_UNIQUE_CHECKS=@@UNIQUE_CHECKS, UNIQUE_CHECKS=0 */;
/*!40014 SET @OLD_FOREIGN_KEY_CHECKS=@@FOREIGN_KEY_CHECKS, FOREIGN_KEY_CHECKS=0 */;
/*!40101 SET @OLD_SQL_MODE=@@SQL_MODE, SQL_MODE='NO_AUTO_VALUE_ON_ZERO' */;
/*!40111 SET @OLD_SQL_NOTES=@@SQL_NOTES, SQL_NOTES=0 */;

--
-- Table structure for table `event_data`
--

DROP TABLE IF EXISTS `event_data`;
/*!40101 SET @saved_cs_client     = @@character_set_client */;
/*!40101 SET character_set_client = utf8mb4 */;
CREATE TABLE `event_data` (
  `event_data_id` varchar(36) NOT NULL,
  `website_event_id` varchar(36) NOT NULL,
  `website_id` varchar(36) NOT NULL,
  `data_key` varchar(500) NOT NULL,
  `string_value` varchar(500) DEFAULT NULL,
  `number_value` decimal(19,4) DEFAULT NULL,
  `date_value` timestamp NULL DEFAULT NULL,
  `data_type` int(10) unsigned NOT NULL,
  `created_at` timestamp NULL DEFAULT current_timestamp(),
  PRIMARY KEY (`event_data_id`),
  KEY `event_data_created_at_idx` (`created_at`),
  KEY `event_data_website_id_idx` (`website_id`),
  KEY `event_data_website_event_id_idx` (`website_event_id`),
  KEY `event_data_website_id_created_at_idx` (`website_id`,`created_at`),
  KEY `event_data_website_id_created_at_data_key_idx` (`website_id`,`created_at`,`data_key`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
/*!40101 SET character_set_client = @saved_cs_client */;

--
-- Dumping data for table `event_data`
--

LOCK TABLES `event_data` WRITE;
/*!40000 ALTER TABLE `event_data` DISABLE KEYS */;
/*!40000 ALTER TABLE `event_data` ENABLE KEYS */;
UNLOCK TABLES;

--
-- Table structure for table `report`
--

DROP TABLE IF EXISTS `report`;
/*!40101 SET @saved_cs_client     = @@character_set_client */;
/*!40101 SET character_set_client = utf8mb4 */;
CREATE TABLE `report` (
  `report_id` varchar(36) NOT NULL,
  `user_id` varchar(36) NOT NULL,
  `website_id` varchar(36) NOT NULL,
  `type` varchar(200) NOT NULL,
  `name` varchar(200) NOT NULL,
  `description` varchar(500) NOT NULL,
  `parameters` longtext CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL CHECK (json_valid(`parameters`)),
  `created_at` timestamp NULL DEFAULT current_timestamp(),
  `updated_at` timestamp NULL DEFAULT NULL,
  PRIMARY KEY (`report_id`),
  UNIQUE KEY `report_report_id_key` (`report_id`),
  KEY `report_user_id_idx` (`user_id`),
  KEY `report_website_id_idx` (`website_id`),
  KEY `report_type_idx` (`type`),
  KEY `report_name_idx` (`name`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
/*!40101 SET character_set_client = @saved_cs_client */;

--
-- Dumping data for table `report`
--

LOCK TABLES `report` WRITE;
/*!40000 ALTER TABLE `report` DISABLE KEYS */;
/*!40000 ALTER TABLE `report` ENABLE KEYS */;
UNLOCK TABLES;

--
-- Table structure for table `revenue`
--

DROP TABLE IF EXISTS `revenue`;
/*!40101 SET @saved_cs_client     = @@character_set_client */;
/*!40101 SET character_set_client = utf8mb4 */;
CREATE TABLE `revenue` (
  `revenue_id` varchar(36) NOT NULL,
  `website_id` varchar(36) NOT NULL,
  `session_id` varchar(36) NOT NULL,
  `event_id` varchar(36) NOT NULL,
  `event_name` varchar(50) NOT NULL,
  `currency` varchar(100) NOT NULL,
  `revenue` decimal(19,4) DEFAULT NULL,
  `created_at` timestamp NULL DEFAULT current_timestamp(),
  PRIMARY KEY (`revenue_id`),
  UNIQUE KEY `revenue_revenue_id_key` (`revenue_id`),
  KEY `revenue_website_id_idx` (`website_id`),
  KEY `revenue_session_id_idx` (`session_id`),
  KEY `revenue_website_id_created_at_idx` (`website_id`,`created_at`),
  KEY `revenue_website_id_session_id_created_at_idx` (`website_id`,`session_id`,`created_at`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
/*!40101 SET character_set_client = @saved_cs_client */;

--
-- Dumping data for table `revenue`
--

LOCK TABLES `revenue` WRITE;
/*!40000 ALTER TABLE `revenue` DISABLE KEYS */;
/*!40000 ALTER TABLE `revenue` ENABLE KEYS */;
UNLOCK TABLES;

--
-- Table structure for table `segment`
--

DROP TABLE IF EXISTS `segment`;
/*!40101 SET @saved_cs_client     = @@character_set_client */;
/*!40101 SET character_set_client = utf8mb4 */;
CREATE TABLE `segment` (
  `segment_id` varchar(36) NOT NULL,
  `website_id` varchar(36) NOT NULL,
  `type` varchar(200) NOT NULL,
  `name` varchar(200) NOT NULL,
  `parameters` longtext CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL CHECK (json_valid(`parameters`)),
  `created_at` timestamp NULL DEFAULT current_timestamp(),
  `updated_at` timestamp NULL DEFAULT NULL,
  PRIMARY KEY (`segment_id`),
  UNIQUE KEY `segment_segment_id_key` (`segment_id`),
  KEY `segment_website_id_idx` (`website_id`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
/*!40101 SET character_set_client = @saved_cs_client */;

--
-- Dumping data for table `segment`
--

LOCK TABLES `segment` WRITE;
/*!40000 ALTER TABLE `segment` DISABLE KEYS */;
/*!40000 ALTER TABLE `segment` ENABLE KEYS */;
UNLOCK TABLES;

--
-- Table structure for table `session`
--

DROP TABLE IF EXISTS `session`;
/*!40101 SET @saved_cs_client     = @@character_set_client */;
/*!40101 SET character_set_client = utf8mb4 */;
CREATE TABLE `session` (
  `session_id` varchar(36) NOT NULL,
  `website_id` varchar(36) NOT NULL,
  `browser` varchar(20) DEFAULT NULL,
  `os` varchar(20) DEFAULT NULL,
  `device` varchar(20) DEFAULT NULL,
  `screen` varchar(11) DEFAULT NULL,
  `language` varchar(35) DEFAULT NULL,
  `country` char(2) DEFAULT NULL,
  `region` char(20) DEFAULT NULL,
  `city` varchar(50) DEFAULT NULL,
  `created_at` timestamp NULL DEFAULT current_timestamp(),
  `distinct_id` varchar(50) DEFAULT NULL,
  PRIMARY KEY (`session_id`),
  UNIQUE KEY `session_session_id_key` (`session_id`),
  KEY `session_created_at_idx` (`created_at`),
  KEY `session_website_id_idx` (`website_id`),
  KEY `session_website_id_created_at_idx` (`website_id`,`created_at`),
  KEY `session_website_id_created_at_browser_idx` (`website_id`,`created_at`,`browser`),
  KEY `session_website_id_created_at_os_idx` (`website_id`,`created_at`,`os`),
  KEY `session_website_id_created_at_device_idx` (`website_id`,`created_at`,`device`),
  KEY `session_website_id_created_at_screen_idx` (`website_id`,`created_at`,`screen`),
  KEY `session_website_id_created_at_language_idx` (`website_id`,`created_at`,`language`),
  KEY `session_website_id_created_at_country_idx` (`website_id`,`created_at`,`country`),
  KEY `session_website_id_created_at_city_idx` (`website_id`,`created_at`,`city`),
  KEY `session_website_id_created_at_region_idx` (`website_id`,`created_at`,`region`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
/*!40101 SET character_set_client = @saved_cs_client */;

--
-- Dumping data for table `session`
--

LOCK TABLES `session` WRITE;
/*!40000 ALTER TABLE `session` DISABLE KEYS */;
{{data:session}}
/*!40000 ALTER TABLE `session` ENABLE KEYS */;
UNLOCK TABLES;

--
-- Table structure for table `session_data`
--

DROP TABLE IF EXISTS `session_data`;
/*!40101 SET @saved_cs_client     = @@character_set_client */;
/*!40101 SET character_set_client = utf8mb4 */;
CREATE TABLE `session_data` (
  `session_data_id` varchar(36) NOT NULL,
  `website_id` varchar(36) NOT NULL,
  `session_id` varchar(36) NOT NULL,
  `data_key` varchar(500) NOT NULL,
  `string_value` varchar(500) DEFAULT NULL,
  `number_value` decimal(19,4) DEFAULT NULL,
  `date_value` timestamp NULL DEFAULT NULL,
  `data_type` int(10) unsigned NOT NULL,
  `created_at` timestamp NULL DEFAULT current_timestamp(),
  `distinct_id` varchar(50) DEFAULT NULL,
  PRIMARY KEY (`session_data_id`),
  KEY `session_data_created_at_idx` (`created_at`),
  KEY `session_data_website_id_idx` (`website_id`),
  KEY `session_data_session_id_idx` (`session_id`),
  KEY `session_data_session_id_created_at_idx` (`session_id`,`created_at`),
  KEY `session_data_website_id_created_at_data_key_idx` (`website_id`,`created_at`,`data_key`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
/*!40101 SET character_set_client = @saved_cs_client */;

--
-- Dumping data for table `session_data`
--

LOCK TABLES `session_data` WRITE;
/*!40000 ALTER TABLE `session_data` DISABLE KEYS */;
/*!40000 ALTER TABLE `session_data` ENABLE KEYS */;
UNLOCK TABLES;

--
-- Table structure for table `team`
--

DROP TABLE IF EXISTS `team`;
/*!40101 SET @saved_cs_client     = @@character_set_client */;
/*!40101 SET character_set_client = utf8mb4 */;
CREATE TABLE `team` (
  `team_id` varchar(36) NOT NULL,
  `name` varchar(50) NOT NULL,
  `access_code` varchar(50) DEFAULT NULL,
  `created_at` timestamp NULL DEFAULT current_timestamp(),
  `updated_at` timestamp NULL DEFAULT NULL,
  `deleted_at` timestamp NULL DEFAULT NULL,
  `logo_url` varchar(2183) DEFAULT NULL,
  PRIMARY KEY (`team_id`),
  UNIQUE KEY `team_team_id_key` (`team_id`),
  UNIQUE KEY `team_access_code_key` (`access_code`),
  KEY `team_access_code_idx` (`access_code`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
/*!40101 SET character_set_client = @saved_cs_client */;

--
-- Dumping data for table `team`
--

LOCK TABLES `team` WRITE;
/*!40000 ALTER TABLE `team` DISABLE KEYS */;
/*!40000 ALTER TABLE `team` ENABLE KEYS */;
UNLOCK TABLES;

--
-- Table structure for table `team_user`
--

DROP TABLE IF EXISTS `team_user`;
/*!40101 SET @saved_cs_client     = @@character_set_client */;
/*!40101 SET character_set_client = utf8mb4 */;
CREATE TABLE `team_user` (
  `team_user_id` varchar(36) NOT NULL,
  `team_id` varchar(36) NOT NULL,
  `user_id` varchar(36) NOT NULL,
  `role` varchar(50) NOT NULL,
  `created_at` timestamp NULL DEFAULT current_timestamp(),
  `updated_at` timestamp NULL DEFAULT NULL,
  PRIMARY KEY (`team_user_id`),
  UNIQUE KEY `team_user_team_user_id_key` (`team_user_id`),
  KEY `team_user_team_id_idx` (`team_id`),
  KEY `team_user_user_id_idx` (`user_id`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
/*!40101 SET character_set_client = @saved_cs_client */;

--
-- Dumping data for table `team_user`
--

LOCK TABLES `team_user` WRITE;
/*!40000 ALTER TABLE `team_user` DISABLE KEYS */;
/*!40000 ALTER TABLE `team_user` ENABLE KEYS */;
UNLOCK TABLES;

--
-- Table structure for table `user`
--

DROP TABLE IF EXISTS `user`;
/*!40101 SET @saved_cs_client     = @@character_set_client */;
/*!40101 SET character_set_client = utf8mb4 */;
CREATE TABLE `user` (
  `user_id` varchar(36) NOT NULL,
  `username` varchar(255) NOT NULL,
  `password` varchar(60) NOT NULL,
  `role` varchar(50) NOT NULL,
  `created_at` timestamp NULL DEFAULT current_timestamp(),
  `updated_at` timestamp NULL DEFAULT NULL,
  `deleted_at` timestamp NULL DEFAULT NULL,
  `display_name` varchar(255) DEFAULT NULL,
  `logo_url` varchar(2183) DEFAULT NULL,
  PRIMARY KEY (`user_id`),
  UNIQUE KEY `user_user_id_key` (`user_id`),
  UNIQUE KEY `user_username_key` (`username`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
/*!40101 SET character_set_client = @saved_cs_client */;

--
-- Dumping data for table `user`
--

LOCK TABLES `user` WRITE;
/*!40000 ALTER TABLE `user` DISABLE KEYS */;
{{data:user}}
/*!40000 ALTER TABLE `user` ENABLE KEYS */;
UNLOCK TABLES;

--
-- Table structure for table `website`
--

DROP TABLE IF EXISTS `website`;
/*!40101 SET @saved_cs_client     = @@character_set_client */;
/*!40101 SET character_set_client = utf8mb4 */;
CREATE TABLE `website` (
  `website_id` varchar(36) NOT NULL,
  `name` varchar(100) NOT NULL,
  `domain` varchar(500) DEFAULT NULL,
  `share_id` varchar(50) DEFAULT NULL,
  `reset_at` timestamp NULL DEFAULT NULL,
  `user_id` varchar(36) DEFAULT NULL,
  `created_at` timestamp NULL DEFAULT current_timestamp(),
  `updated_at` timestamp NULL DEFAULT NULL,
  `deleted_at` timestamp NULL DEFAULT NULL,
  `created_by` varchar(36) DEFAULT NULL,
  `team_id` varchar(36) DEFAULT NULL,
  PRIMARY KEY (`website_id`),
  UNIQUE KEY `website_website_id_key` (`website_id`),
  UNIQUE KEY `website_share_id_key` (`share_id`),
  KEY `website_user_id_idx` (`user_id`),
  KEY `website_created_at_idx` (`created_at`),
  KEY `website_share_id_idx` (`share_id`),
  KEY `website_team_id_idx` (`team_id`),
  KEY `website_created_by_idx` (`created_by`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
/*!40101 SET character_set_client = @saved_cs_client */;

--
-- Dumping data for table `website`
--

LOCK TABLES `website` WRITE;
/*!40000 ALTER TABLE `website` DISABLE KEYS */;
{{data:website}}
/*!40000 ALTER TABLE `website` ENABLE KEYS */;
UNLOCK TABLES;

--
-- Table structure for table `website_event`
--

DROP TABLE IF EXISTS `website_event`;
/*!40101 SET @saved_cs_client     = @@character_set_client */;
/*!40101 SET character_set_client = utf8mb4 */;
CREATE TABLE `website_event` (
  `event_id` varchar(36) NOT NULL,
  `website_id` varchar(36) NOT NULL,
  `session_id` varchar(36) NOT NULL,
  `created_at` timestamp NULL DEFAULT current_timestamp(),
  `url_path` varchar(500) NOT NULL,
  `url_query` varchar(500) DEFAULT NULL,
  `referrer_path` varchar(500) DEFAULT NULL,
  `referrer_query` varchar(500) DEFAULT NULL,
  `referrer_domain` varchar(500) DEFAULT NULL,
  `page_title` varchar(500) DEFAULT NULL,
  `event_type` int(10) unsigned NOT NULL DEFAULT 1,
  `event_name` varchar(50) DEFAULT NULL,
  `visit_id` varchar(36) NOT NULL,
  `tag` varchar(50) DEFAULT NULL,
  `fbclid` varchar(255) DEFAULT NULL,
  `gclid` varchar(255) DEFAULT NULL,
  `li_fat_id` varchar(255) DEFAULT NULL,
  `msclkid` varchar(255) DEFAULT NULL,
  `ttclid` varchar(255) DEFAULT NULL,
  `twclid` varchar(255) DEFAULT NULL,
  `utm_campaign` varchar(255) DEFAULT NULL,
  `utm_content` varchar(255) DEFAULT NULL,
  `utm_medium` varchar(255) DEFAULT NULL,
  `utm_source` varchar(255) DEFAULT NULL,
  `utm_term` varchar(255) DEFAULT NULL,
  `hostname` varchar(100) DEFAULT NULL,
  PRIMARY KEY (`event_id`),
  KEY `website_event_created_at_idx` (`created_at`),
  KEY `website_event_session_id_idx` (`session_id`),
  KEY `website_event_website_id_idx` (`website_id`),
  KEY `website_event_website_id_created_at_idx` (`website_id`,`created_at`),
  KEY `website_event_website_id_session_id_created_at_idx` (`website_id`,`session_id`,`created_at`),
  KEY `website_event_website_id_created_at_url_path_idx` (`website_id`,`created_at`,`url_path`),
  KEY `website_event_website_id_created_at_url_query_idx` (`website_id`,`created_at`,`url_query`),
  KEY `website_event_website_id_created_at_referrer_domain_idx` (`website_id`,`created_at`,`referrer_domain`),
  KEY `website_event_website_id_created_at_page_title_idx` (`website_id`,`created_at`,`page_title`),
  KEY `website_event_website_id_created_at_event_name_idx` (`website_id`,`created_at`,`event_name`),
  KEY `website_event_visit_id_idx` (`visit_id`),
  KEY `website_event_website_id_visit_id_created_at_idx` (`website_id`,`visit_id`,`created_at`),
  KEY `website_event_website_id_created_at_tag_idx` (`website_id`,`created_at`,`tag`),
  KEY `website_event_website_id_created_at_hostname_idx` (`website_id`,`created_at`,`hostname`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
/*!40101 SET character_set_client = @saved_cs_client */;

--
-- Dumping data for table `website_event`
--

LOCK TABLES `website_event` WRITE;
/*!40000 ALTER TABLE `website_event` DISABLE KEYS */;
{{data:website_event}}
/*!40000 ALTER TABLE `website_event` ENABLE KEYS */;
UNLOCK TABLES;
/*!40103 SET TIME_ZONE=@OLD_TIME_ZONE */;

/*!40101 SET SQL_MODE=@OLD_SQL_MODE */;
/*!40014 SET FOREIGN_KEY_CHECKS=@OLD_FOREIGN_KEY_CHECKS */;
/*!40014 SET UNIQUE_CHECKS=@OLD_UNIQUE_CHECKS */;
/*!40101 SET CHARACTER_SET_CLIENT=@OLD_CHARACTER_SET_CLIENT */;
/*!40101 SET CHARACTER_SET_RESULTS=@OLD_CHARACTER_SET_RESULTS */;
/*!40101 SET COLLATION_CONNECTION=@OLD_COLLATION_CONNECTION */;
/*!40111 SET SQL_NOTES=@OLD_SQL_NOTES */;

-- Dump completed on {{completed}}
